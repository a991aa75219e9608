//! The bench's references: sampled matmul rows, the conv stack's CPU
//! baseline and its check, and what a row says when a rung fell back.

use super::*;

/// The f64 reference of rows `rows` of A B (n x n).
pub(super) fn matmul_rows_reference(n: usize, a: &[f32], b: &[f32], rows: &[usize]) -> RefTensor {
    let sub_a: Vec<f32> = rows
        .iter()
        .flat_map(|&r| a[r * n..(r + 1) * n].iter().copied())
        .collect();
    let mut reference = RefTensor::zeros(&[rows.len(), n]);
    let sub = Matmul {
        m: rows.len(),
        ..Matmul::square(n)
    };
    cpu::matmul::matmul_into(
        &sub,
        (
            &RefTensor::from_f32(&[rows.len(), n], &sub_a),
            View::dense(rows.len(), n, false),
        ),
        (&RefTensor::from_f32(&[n, n], b), View::dense(n, n, false)),
        None,
        (&mut reference, View::dense(rows.len(), n, false)),
    );
    reference
}

impl Case {
    /// The conv stack's f64 reference of the first input and its time,
    /// computed once.
    pub(super) fn conv_reference(&self, stack: &ConvStack, input: &[f32]) -> &(RefTensor, f64) {
        self.conv_reference.get_or_init(|| {
            let start = std::time::Instant::now();
            let r = stack.forward_ref(&RefTensor::from_f32(&stack.input_shape, input));
            (r, start.elapsed().as_secs_f64() * 1e3)
        })
    }

    /// The CPU baseline's own output against the reference, like a GPU
    /// row's: (passed, what was compared).
    pub(super) fn check_cpu_baseline(&self) -> (bool, String) {
        match &self.data {
            Data::Conv { stack, inputs } => {
                let got = conv_stack_baseline(stack, &inputs[0]);
                let (reference, _) = self.conv_reference(stack, &inputs[0]);
                let c = compare(&got, reference);
                (c.passed, checked(c.elements, c.elements, "elements"))
            }
            Data::Matmul { n, a, b } => {
                let n = *n;
                let mut c = vec![0.0f32; n * n];
                baseline::matmul(
                    &Matmul::square(n),
                    &a[0],
                    View::dense(n, n, false),
                    &b[0],
                    View::dense(n, n, false),
                    None,
                    &mut c,
                    View::dense(n, n, false),
                );
                let rows = sample_rows(n, 0);
                let got: Vec<f32> = rows
                    .iter()
                    .flat_map(|&r| c[r * n..(r + 1) * n].iter().copied())
                    .collect();
                let check = compare(&got, &matmul_rows_reference(n, &a[0], &b[0], &rows));
                (check.passed, checked(rows.len(), n, "rows"))
            }
            // Its bound needs the attention reference's row sampling; the
            // baseline is checked against it in tests/baseline.rs.
            Data::Attention { .. } => (true, NOT_CHECKED.into()),
        }
    }

    /// A GPU row whose check compared the given rows (of `width` values)
    /// of `got` with the reference for those rows; the reference's time
    /// counts only when it covered every row.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sampled_row(
        &self,
        kernel: &str,
        adapter: &str,
        t: &crate::gpu::timer::PlanTiming,
        got: &[f32],
        rows: &[usize],
        width: usize,
        total: usize,
        what: &str,
        reference: &RefTensor,
        ref_ms: f64,
    ) -> Row {
        let got_rows: Vec<f32> = rows
            .iter()
            .flat_map(|&r| got[r * width..(r + 1) * width].iter().copied())
            .collect();
        let c = compare(&got_rows, reference);
        let mut row = Row::gpu(
            self.op.name(),
            &self.shape,
            kernel,
            adapter,
            self.size,
            self.flops,
            self.bytes,
            t,
            c.passed,
            checked(rows.len(), total, what),
        );
        row.reference_ms = (rows.len() == total).then_some(ref_ms);
        row
    }
}

/// When a rung could not run this shape on this device and the op fell
/// back (the row is then timed under the rung's name), says what ran.
pub(super) fn fallback_note(op: OpKind, rung: &str, plan: &Plan) -> Option<String> {
    let want = match op {
        OpKind::Matmul => MatmulRung::parse(rung).ok()?.entry(),
        OpKind::Conv => ConvRung::parse(rung).ok()?.entry(),
        OpKind::Attention => AttentionRung::parse(rung).ok()?.entry(),
    };
    let ran: std::collections::BTreeSet<&str> = plan.steps.iter().map(|s| s.kernel.entry).collect();
    (!plan.runs(want)).then(|| {
        format!(
            "{rung} cannot run this here; fell back to {}",
            ran.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

pub(super) fn with_note(note: Option<String>, mut row: Row) -> Row {
    if note.is_some() {
        row.note = note;
    }
    row
}

/// The stack on the CPU baseline, layer by layer.
pub fn conv_stack_baseline(stack: &ConvStack, input: &[f32]) -> Vec<f32> {
    let mut cur = input.to_vec();
    for l in &stack.layers {
        cur = match &l.layer {
            Layer::Conv { op, weight, bias } => {
                baseline::conv2d(op, &cur, l.in_shape, weight, bias.as_deref(), l.out_shape)
            }
            Layer::Relu => cur
                .into_iter()
                .map(|v| if v < 0.0 { 0.0 } else { v })
                .collect(),
            Layer::Act(a) => RefTensor::from_f32(&l.in_shape, &cur)
                .map_val(|v| a.reference(v))
                .to_f32(),
            Layer::BatchNorm { bn, .. } => {
                cpu::batchnorm::batchnorm(bn, &RefTensor::from_f32(&l.in_shape, &cur)).to_f32()
            }
            Layer::Pool(p) => {
                cpu::pool2d::pool2d(p, &RefTensor::from_f32(&l.in_shape, &cur), l.out_shape)
                    .to_f32()
            }
        };
    }
    cur
}
