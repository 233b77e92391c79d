"""fieldproof: contract and resilience tests for the fielding-run endpoints of the Cint Exchange Demand API."""

__version__ = "0.1.0"
