//! Hash maps and sets for the per-tensor work (tens of thousands of names per
//! checkpoint): foldhash, randomly seeded per process, instead of SipHash.

/// A hash map with foldhash.
pub type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A hash set with foldhash.
pub type Set<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
