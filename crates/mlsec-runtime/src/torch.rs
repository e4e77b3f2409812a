//! TorchScript models through libtorch (`torch` feature). Loaded in eval mode
//! (`set_eval()`); logits come back as candle tensors, and input gradients are computed by
//! libtorch's autograd with the loss's gradient on the logits (computed by candle) fed in.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use sha2::{Digest, Sha256};

use crate::{InputSpec, Model, RuntimeError};

fn torch_err(e: tch::TchError) -> RuntimeError {
    RuntimeError::Model(format!("libtorch: {e}"))
}

/// A TorchScript module (`torch.jit.trace`/`torch.jit.script` output).
pub struct TorchScriptModel {
    module: tch::CModule,
    input: InputSpec,
    digest: String,
}

impl std::fmt::Debug for TorchScriptModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchScriptModel")
            .field("digest", &self.digest)
            .finish()
    }
}

impl TorchScriptModel {
    pub fn load(path: &Path) -> Result<TorchScriptModel, RuntimeError> {
        let bytes = mlsec_formats::sniff::read_file(path)
            .map_err(|e| RuntimeError::Model(format!("cannot read {}: {e}", path.display())))?;
        let mut module = tch::CModule::load(path).map_err(torch_err)?;
        module.set_eval();
        Ok(TorchScriptModel {
            module,
            input: InputSpec {
                name: "input".into(),
                dims: None,
                range: None,
            },
            digest: mlsec_util::hex::encode(&Sha256::digest(&*bytes)),
        })
    }

    fn to_torch(x: &Tensor) -> Result<tch::Tensor, RuntimeError> {
        let dims: Vec<i64> = x.dims().iter().map(|&d| d as i64).collect();
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        Ok(tch::Tensor::from_slice(&values).reshape(&dims))
    }

    fn to_candle(t: &tch::Tensor) -> Result<Tensor, RuntimeError> {
        let dims: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let flat = t.to_kind(tch::Kind::Float).contiguous().view([-1]);
        let values = Vec::<f32>::try_from(&flat).map_err(torch_err)?;
        Ok(Tensor::from_vec(values, dims, &Device::Cpu)?)
    }
}

impl Model for TorchScriptModel {
    fn input(&self) -> &InputSpec {
        &self.input
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, RuntimeError> {
        let xt = Self::to_torch(x)?;
        let out = tch::no_grad(|| self.module.forward_ts(&[xt])).map_err(torch_err)?;
        Self::to_candle(&out)
    }

    fn loss_gradient(
        &self,
        x: &Tensor,
        loss: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<(Tensor, Tensor), RuntimeError> {
        let xt = Self::to_torch(x)?.set_requires_grad(true);
        let out = self.module.forward_ts(&[&xt]).map_err(torch_err)?;
        // dLoss/dlogits by candle, then libtorch's backward from the logits with it.
        let logits = Var::from_tensor(&Self::to_candle(&out.detach())?)?;
        let grads = loss(logits.as_tensor())?.backward()?;
        let upstream = match grads.get(logits.as_tensor()) {
            Some(g) => g.clone(),
            None => logits.as_tensor().zeros_like()?,
        };
        let g = Self::to_torch(&upstream)?;
        (out.to_kind(tch::Kind::Float) * g)
            .sum(tch::Kind::Float)
            .backward();
        let grad = Self::to_candle(&xt.grad())?;
        Ok((logits.as_tensor().detach(), grad))
    }

    fn activations(&self, _x: &Tensor) -> Result<Vec<(String, Tensor)>, RuntimeError> {
        Err(RuntimeError::Model(
            "intermediate activations are not available for TorchScript models; export to ONNX"
                .into(),
        ))
    }

    fn is_eval(&self) -> bool {
        true
    }

    fn digest(&self) -> &str {
        &self.digest
    }
}
