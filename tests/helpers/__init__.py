"""What the tests share: paths and digest files (:mod:`.digests`), the emulator and the bot
started together (:mod:`.e2e`), the bot as a real process (:mod:`.processes`). Test
files import from here, never from one another."""
