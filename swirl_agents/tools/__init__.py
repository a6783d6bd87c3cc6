"""LangChain tools the agent maps to protocol tags: calculator, corpus search, wikipedia."""
