"""Decision makers of qmml-lab, all behind one protocol (:class:`agents.protocol.Agent`)."""

from qmml.agents.protocol import Agent

__all__ = ["Agent"]
