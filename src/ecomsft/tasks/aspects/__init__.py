"""Aspect-based review analysis: opinion quadruples (aspect, opinion, category, polarity) per review."""
