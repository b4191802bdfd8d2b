"""Media: the Janus SFU (its config, its process, an asyncio client for its API) and the
enforcement of what may flow, as decided by the lesson engine."""
