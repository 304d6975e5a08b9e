"""The Daily Papers bot."""

import os

# The library hands flood waits and other periods over as ``timedelta`` only when this is
# set (its coming default); the bot reads them so everywhere, whatever the environment says.
os.environ["PTB_TIMEDELTA"] = "1"
