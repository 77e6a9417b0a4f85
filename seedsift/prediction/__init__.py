"""Steps 6-7: predictions from the sidecar's model (predict), scored against chance (evaluation)."""
