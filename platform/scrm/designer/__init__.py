"""The designer: what business administrators use to change definitions in the browser."""
