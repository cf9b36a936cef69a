"""A streaming, real-time personalization engine on Kafka.

The pure core (events, profiles, similarity, trending, candidates, ranking,
pipeline) imports neither Faust nor aiokafka; ``engine.stream`` wires it into
Faust. Nothing happens at import time.
"""

__version__ = "0.1.0"
