//! Graph simulator (issue 3).
