"""galfriday replay: a capture fed back through the engine's own code."""
