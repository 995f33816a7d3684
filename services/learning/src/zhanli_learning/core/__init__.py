"""Pure learning rules: prerequisite graph, gaps and paths, progress, mentoring."""
