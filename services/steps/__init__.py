"""The negotiation steps. Each module is a pure core (state, evolve, decide) with its
`StepSpec`; services/steps/registry.py lists them (NAMES, load), and everything else that
lists steps derives from it."""
