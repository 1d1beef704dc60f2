//! The monthly meeting sheet and the quarterly report (月调度、季通报): counts of the
//! office's cases for a period. Nothing in them names or quotes a resident.
