"""The trio shell: connections, processors and the engine that wires them together."""
