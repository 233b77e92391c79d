"""`fieldproof swarm`: the contract judged under load from many hosts, on Locust.

- `command.py`: the `fieldproof swarm` command (set-up, locks, Locust as a child, the restore,
  the reports), and the remote worker's command.
- `locustfile.py`: what Locust loads: the user class, and the part each of its processes plays,
  built in Locust's init event (importing it reads nothing). Only Locust imports it (and
  users.py, master.py, node.py): importing Locust patches a process for gevent.
- `users.py`: a worker's side: the users that drive the harness's own recording client, and the
  worker's answers to the master's messages.
- `master.py`: the master's side: clocks, shares of the limits, race rounds, the merge of what
  every node judged, the records and Locust's statistics written at the end.
- `node.py`: what one Locust process judged and recorded, worker or master.
- `config.py`: what the command tells Locust's processes (through the environment), and what a
  process reads from it.
- `history.py`: histories of several hosts moved onto one clock for the linearizability checker.
"""
