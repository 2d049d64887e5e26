package renderer

// The tests prune every Service and workload, however small (see
// pruneMin), so that every comparison with the pipeline keeping every tree
// (runFilters: golden inputs, FuzzRender, TestReleasedTreesChangeNothing)
// covers the pruned path.
func init() { pruneMin = 0 }
