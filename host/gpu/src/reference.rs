//! CPU reference
