"""What every step shares: its store, the consumer loop, the relay and the clock."""
