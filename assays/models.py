"""Isolation protocols, runs and characterisation assays (see the isolation and
instrument-file issues). Nothing is modelled here yet."""
