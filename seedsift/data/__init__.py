"""Step 1, the draw history: draw files (draws), the synthetic history (synthetic), the split files (history)."""
