"""Read models folded from the event history (case state, satisfaction metrics)."""
