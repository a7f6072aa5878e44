"""The product's core: rosters, counting rules, tallies. Pure: no I/O, no clock, no float."""
