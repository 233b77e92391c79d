"""`fieldproof swarm`: the contract judged under load from many hosts, on Locust.

- `command.py`: the `fieldproof swarm` command (set-up, locks, Locust as a child, the restore,
  the reports), and the remote worker's command.
- `locustfile.py`: what runs inside Locust's processes (users that drive the harness's own
  recording client, the master's race rounds and the history merge). Only Locust imports it:
  importing Locust patches a process for gevent.
- `config.py`: what the command tells Locust's processes (through the environment).
- `history.py`: histories of several hosts moved onto one clock for the linearizability checker.
"""
