// Prepended to every kernel family. The host folds a 1-D range of
// workgroups into up to three grid dimensions when it exceeds
// max_compute_workgroups_per_dimension; flat_id undoes the fold.
override WG: u32 = 64u;

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WG + lid;
}
