//! Read models of the trust fund as pure folds over the event history (per-country funding,
//! donor statements, the fund overview), with their persistence and checkpoints.
