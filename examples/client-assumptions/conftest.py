# Lets the tests import campaign_ops (the team's code) from this folder.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
