// requires: matmul_common.wgsl f16_packed.wgsl matmul_f16_common.wgsl matmul_f16.wgsl
// or requires: enable-f16 matmul_common.wgsl f16_native.wgsl matmul_f16_common.wgsl matmul_f16.wgsl
// The float32-sum tail of matmul_f16.wgsl (matmul_f16acc.wgsl is the
// float16 one): each element's products summed in float32.
fn dot_at(e: u32) -> f32 {
    return dot_f32(e);
}
