"""Accord's services: the broker wrapper, the shared runtime and the command-line tool."""
