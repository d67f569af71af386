"""regledger: the command line and the wiring of an instance's home folder."""
