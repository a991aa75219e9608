//! One error type for the whole crate. Every message names the culprit and
//! says what to do next, because the person reading it is usually at a
//! terminal with no debugger.

mod spec;

pub use spec::SpecError;
use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "no GPU adapter found{filter}. On Linux without a GPU, install Mesa's software Vulkan \
         driver (Debian/Ubuntu: `sudo apt-get install mesa-vulkan-drivers`), then run \
         `wgsl-nn info` to see what wgpu finds"
    )]
    NoAdapter { filter: String },

    #[error("no adapter matches {what}; adapters found: {found}. Run `wgsl-nn info` to list them")]
    AdapterNotMatched { what: String, found: String },

    #[error("unknown backend '{0}' (--backend or WGPU_BACKEND); expected one of vulkan, gl, metal, dx12")]
    UnknownBackend(String),

    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice { adapter: String, reason: String },

    #[error("the GPU device was lost ({reason}); restart the program, and if it repeats, update the driver or choose another adapter with --adapter")]
    DeviceLost { reason: String },

    #[error("GPU validation error in {context}: {message}")]
    Validation { context: String, message: String },

    #[error("GPU out of memory in {context}; use smaller shapes or another adapter")]
    OutOfMemory { context: String },

    #[error("waited {seconds} s for the GPU in {context} and it did not finish; raise the limit with --gpu-timeout SECONDS or use smaller shapes")]
    Timeout { context: String, seconds: f64 },

    #[error("could not read back {context} from the GPU: {reason}")]
    Map { context: String, reason: String },

    #[error("{layer}: {message}")]
    Shape { layer: String, message: String },

    #[error("{tensor} needs {bytes} bytes in one binding but this device allows {limit} ({limit_name}); use a smaller batch or shape")]
    TooLarge {
        tensor: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },

    #[error("invalid argument {arg}: {message}")]
    Argument { arg: String, message: String },

    #[error(transparent)]
    Spec(#[from] SpecError),

    /// An application's error (a file format, say) carried through the
    /// core's `Result`; its message is the application's own.
    #[error(transparent)]
    App(Box<dyn std::error::Error + Send + Sync + 'static>),

    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

impl Error {
    pub fn shape(layer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Shape {
            layer: layer.into(),
            message: message.into(),
        }
    }

    pub fn arg(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Argument {
            arg: arg.into(),
            message: message.into(),
        }
    }
}
