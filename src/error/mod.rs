//! One error type for the whole crate. Every message names the culprit and
//! says what to do next, because the person reading it is usually at a
//! terminal with no debugger.

mod spec;

pub use spec::SpecError;
use thiserror::Error;

/// The crate's result type: every fallible function returns [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in wgsl-nn, from finding an adapter to a
/// shape that does not fit. The `Display` text is the message a user sees:
/// it names the culprit (a layer, a tensor, an argument) and says what to
/// try next.
#[derive(Debug, Error)]
pub enum Error {
    /// wgpu found no adapter at all, or none matched the backend or name
    /// asked for and no other adapter exists either.
    #[error(
        "no GPU adapter found{filter}. On Linux without a GPU, install Mesa's software Vulkan \
         driver (Debian/Ubuntu: `sudo apt-get install mesa-vulkan-drivers`), then run \
         `wgsl-nn info` to see what wgpu finds"
    )]
    NoAdapter {
        /// Empty, or ` (asked for ...)` naming the backend and name filters
        /// that were applied (`--backend`, `--adapter` or wgpu's variables).
        filter: String,
    },

    /// Adapters exist, but none matches the backend or name filter.
    #[error("no adapter matches {what}; adapters found: {found}. Run `wgsl-nn info` to list them")]
    AdapterNotMatched {
        /// The filters asked for, in words: the backend and/or the name
        /// substring, and where each came from.
        what: String,
        /// The names of the adapters that were found, for the user to pick from.
        found: String,
    },

    /// A backend name (in `--backend` or `WGPU_BACKEND`, a comma-separated
    /// list) is not one of vulkan, gl, metal or dx12 or their aliases; holds
    /// that name, lower-cased.
    #[error("unknown backend '{0}' (--backend or WGPU_BACKEND); expected one of vulkan, gl, metal, dx12")]
    UnknownBackend(String),

    /// The adapter was found but refused to open a device (wgpu's
    /// `request_device` failed).
    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's own message.
        reason: String,
    },

    /// The device was lost (the driver reset or failed, a wait on it failed,
    /// or a panic poisoned its error state); a lost device stays lost, so
    /// every later call on it returns this again.
    #[error("the GPU device was lost ({reason}); restart the program, and if it repeats, update the driver or choose another adapter with --adapter")]
    DeviceLost {
        /// The driver's or wgpu's reason.
        reason: String,
    },

    /// wgpu reported a validation or internal error (captured by an error
    /// scope, or uncaptured and recorded on the device).
    #[error("GPU validation error in {context}: {message}")]
    Validation {
        /// What the crate was doing ("allocating x", a step's label).
        context: String,
        /// wgpu's messages, joined by `; ` when there were several.
        message: String,
    },

    /// The GPU ran out of memory while allocating or running.
    #[error("GPU out of memory in {context}; use smaller shapes or another adapter")]
    OutOfMemory {
        /// What the crate was doing when it happened.
        context: String,
    },

    /// A submission did not finish within the device's timeout
    /// (`--gpu-timeout`).
    #[error("waited {seconds} s for the GPU in {context} and it did not finish; raise the limit with --gpu-timeout SECONDS or use smaller shapes")]
    Timeout {
        /// What was being waited for.
        context: String,
        /// The timeout that expired, in seconds.
        seconds: f64,
    },

    /// Mapping a staging buffer to read results back failed, or its
    /// callback never ran within the timeout.
    #[error("could not read back {context} from the GPU: {reason}")]
    Map {
        /// What was being read back.
        context: String,
        /// wgpu's message, or why the map never completed.
        reason: String,
    },

    /// A shape, size or parameter that a layer cannot accept: wrong rank or
    /// channel count, a kernel larger than the padded input, a zero-sized
    /// dimension, missing weights. Built with [`Error::shape`].
    #[error("{layer}: {message}")]
    Shape {
        /// The layer or tensor at fault, as its errors and plans name it.
        layer: String,
        /// What is wrong and what to change.
        message: String,
    },

    /// A tensor (or one binding of a step) needs more bytes than the
    /// device's buffer or binding limit allows.
    #[error("{tensor} needs {bytes} bytes in one binding but this device allows {limit} ({limit_name}); use a smaller batch or shape")]
    TooLarge {
        /// The tensor, with its shape or the step that binds it.
        tensor: String,
        /// The bytes it needs.
        bytes: u64,
        /// The device's limit, in bytes.
        limit: u64,
        /// Which wgpu limit that is, e.g. `max_storage_buffer_binding_size`.
        limit_name: &'static str,
    },

    /// A user-supplied argument (a flag, an input shape, a model setting)
    /// is invalid. Built with [`Error::arg`].
    #[error("invalid argument {arg}: {message}")]
    Argument {
        /// The argument, as the user would write it (e.g. `--input`).
        arg: String,
        /// What is wrong with it and what is accepted.
        message: String,
    },

    /// The layer-stack text did not parse; see [`SpecError`].
    #[error(transparent)]
    Spec(#[from] SpecError),

    /// An application's error (a file format, say) carried through the
    /// core's `Result`; its message is the application's own.
    #[error(transparent)]
    App(Box<dyn std::error::Error + Send + Sync + 'static>),

    /// Writing or reading a file failed, or what was to be written to it
    /// could not be (an empty heat map, say).
    #[error("{path}: {message}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's message, or what was wrong with the data.
        message: String,
    },
}

impl Error {
    /// An [`Error::Shape`] for `layer` with `message`.
    ///
    /// ```
    /// let e = wgsl_nn::Error::shape("layer 2 conv(k=7)", "kernel too large");
    /// assert_eq!(e.to_string(), "layer 2 conv(k=7): kernel too large");
    /// ```
    pub fn shape(layer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Shape {
            layer: layer.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Argument`] for `arg` with `message`.
    pub fn arg(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Argument {
            arg: arg.into(),
            message: message.into(),
        }
    }
}
