from fieldproof.cli import entry

entry()
