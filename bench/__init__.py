"""The bench: the toolkit's figures against their targets, measured in the local sandbox."""
