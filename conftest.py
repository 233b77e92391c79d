"""Project-wide pytest set-up: hypothesis profiles.

`ci` is derandomized so that a red CI run reproduces; `dev` explores more.
Pick one with HYPOTHESIS_PROFILE or pytest's --hypothesis-profile.
"""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
