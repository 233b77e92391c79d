"""Is a concurrent history of one fielding run linearizable under the run's sequential model?

As Porcupine splits checker, model and visualisation: `checker` (the generic search over a
`Model`), `fielding_run` (the fielding run's model and a history's `Entry`), `analysis`
(`analyse` and its `Analysis`), `counterexample` (making a failing history small) and `timeline`
(drawing one).
"""

from fieldproof.linearizability.analysis import Analysis, analyse
from fieldproof.linearizability.checker import (
    DEFAULT_MAX_STATES,
    WORK_PER_STATE,
    EntryList,
    Model,
    OptionalIndex,
    Search,
    SearchResult,
    search,
)
from fieldproof.linearizability.counterexample import MINIMIZE_CHECKS
from fieldproof.linearizability.fielding_run import FIELDING_RUN, Entry, FieldingRunModel, describe, describe_state
from fieldproof.linearizability.timeline import render_timeline

__all__ = [
    "DEFAULT_MAX_STATES",
    "FIELDING_RUN",
    "MINIMIZE_CHECKS",
    "WORK_PER_STATE",
    "Analysis",
    "Entry",
    "EntryList",
    "FieldingRunModel",
    "Model",
    "OptionalIndex",
    "Search",
    "SearchResult",
    "analyse",
    "describe",
    "describe_state",
    "render_timeline",
    "search",
]
