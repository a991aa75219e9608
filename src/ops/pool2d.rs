//! Max and average pooling: parameters and GPU forward.
//! Reference: `cpu::pool2d`.

use super::conv2d::nchw;
use super::{check_u32, kernel, read, u, workgroup_1d, write};
use crate::error::{Error, Result};
use crate::geometry::Window;
use crate::gpu::{Gpu, Kernel, Plan, Step};
use crate::tensor::Tensor;

const SOURCE: &str = include_str!("../../shaders/pool2d.wgsl");
pub const MAX: Kernel = kernel("pool2d", SOURCE, "max_pool2d");
pub const AVG: Kernel = kernel("pool2d", SOURCE, "avg_pool2d");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool2d {
    pub kind: PoolKind,
    pub window: Window,
    /// Average pooling only: divide by the window including padding.
    pub count_include_pad: bool,
}

/// Twin of `Pool2dParams` in shaders/pool2d.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Pool2dParams {
    pub planes: u32,
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub dh: u32,
    pub dw: u32,
    pub flags: u32,
    pub total: u32,
    pub _pad: u32,
}

impl Pool2d {
    pub fn output_shape(&self, input: &[usize], layer: &str) -> Result<[usize; 4]> {
        let [n, c, h, w] = nchw(input, layer)?;
        let wd = &self.window;
        for a in 0..2 {
            // PyTorch refuses this too: a window could then lie entirely in
            // the padding and have nothing to pool.
            if wd.pad_begin[a] > wd.kernel[a] / 2 || wd.pad_end[a] > wd.kernel[a] / 2 {
                return Err(Error::shape(
                    layer,
                    format!(
                        "pooling padding {} must be at most half the kernel size {} (as in PyTorch)",
                        wd.pad_begin[a].max(wd.pad_end[a]),
                        wd.kernel[a]
                    ),
                ));
            }
        }
        if self.kind == PoolKind::Avg && wd.dilation != [1, 1] {
            return Err(Error::shape(
                layer,
                "average pooling has no dilation (as in PyTorch)",
            ));
        }
        let [oh, ow] = wd.output_size([h, w], layer)?;
        Ok([n, c, oh, ow])
    }

    pub fn flops(&self, out: &[usize; 4]) -> u64 {
        out.iter().map(|&d| d as u64).product::<u64>()
            * (self.window.kernel[0] * self.window.kernel[1]) as u64
    }
}

pub fn pool2d_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    pool: &Pool2d,
    x: &Tensor,
) -> Result<Tensor> {
    let out = pool.output_shape(&x.shape, layer)?;
    check_u32(&format!("{layer} input"), &x.shape)?;
    let total = check_u32(&format!("{layer} output"), &out)?;
    let wd = &pool.window;
    let taps = (wd.kernel[0] * (wd.kernel[1] + 1)) as u64;
    super::within_loop_budget(
        gpu,
        layer,
        taps,
        &format!("a {}x{} pooling window", wd.kernel[0], wd.kernel[1]),
    )?;
    let y = Tensor::poisoned(gpu, &format!("{layer} output"), &out)?;
    let params = Pool2dParams {
        planes: u(out[0] * out[1]),
        h: u(x.shape[2]),
        w: u(x.shape[3]),
        oh: u(out[2]),
        ow: u(out[3]),
        kh: u(wd.kernel[0]),
        kw: u(wd.kernel[1]),
        sh: u(wd.stride[0]),
        sw: u(wd.stride[1]),
        ph: u(wd.pad_begin[0]),
        pw: u(wd.pad_begin[1]),
        dh: u(wd.dilation[0]),
        dw: u(wd.dilation[1]),
        flags: u32::from(pool.kind == PoolKind::Avg) | (u32::from(pool.count_include_pad) << 1),
        total,
        _pad: 0,
    };
    plan.push(Step {
        label: layer.to_string(),
        kernel: if pool.kind == PoolKind::Max { MAX } else { AVG },
        overrides: vec![],
        params: bytemuck::bytes_of(&params).to_vec(),
        bindings: vec![read("x", x), write("y", &y)],
        invocations: u64::from(total),
        workgroup_size: workgroup_1d(gpu),
        flops: pool.flops(&out),
        bytes_moved: 4 * (x.numel() + y.numel()) as u64,
    });
    Ok(y)
}
