//! Machine probes (read bandwidth, arithmetic peak): not written yet.
