//! Errors of the checkpoint loaders. Every variant names the file and, where there is one, the
//! tensor or key at fault, so a message alone says where to look.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::error::EngineError;
use ternbench_kernels::KernelError;

/// Everything a loader can refuse.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not in the expected format, or its header is damaged.
    #[error("{}: {reason}", .path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor whose declared type, shape, offsets or values are wrong.
    #[error("{}: tensor `{tensor}`: {reason}", .path.display())]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the model needs is absent.
    #[error("{}: tensor `{tensor}` is missing{hint}", .path.display())]
    MissingTensor {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Extra words (e.g. the names that were looked for), starting with `; ` when present.
        hint: String,
    },
    /// A configuration or metadata key that is missing, has the wrong type, or contradicts the
    /// tensors.
    #[error("{}: `{key}`: {reason}", .path.display())]
    Key {
        /// The file holding the key (`config.json`, the GGUF file).
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed checkpoint using something ternbench does not implement.
    #[error("{}: {what} is not supported: {reason}", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The feature.
        what: String,
        /// Why, and what would be needed.
        reason: String,
    },
    /// The configuration read from the checkpoint does not describe a valid model.
    #[error("{}: {source}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The validation error.
        source: EngineError,
    },
    /// Packing a tensor into a kernel format failed.
    #[error("{}: tensor `{tensor}`: {source}", .path.display())]
    Kernel {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// The kernel crate's error.
        source: KernelError,
    },
}

impl LoadError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn header(path: &Path, reason: impl Into<String>) -> Self {
        LoadError::Header {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn tensor(path: &Path, tensor: &str, reason: impl Into<String>) -> Self {
        LoadError::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn key(path: &Path, key: &str, reason: impl Into<String>) -> Self {
        LoadError::Key {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(
        path: &Path,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        LoadError::Unsupported {
            path: path.to_path_buf(),
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(path: &Path, tensor: &str, hint: impl Into<String>) -> Self {
        LoadError::MissingTensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            hint: hint.into(),
        }
    }

    pub(crate) fn kernel(path: &Path, tensor: &str, source: KernelError) -> Self {
        LoadError::Kernel {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            source,
        }
    }
}
