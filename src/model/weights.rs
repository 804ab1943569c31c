//! Weights in safetensors: f16 on disk for shipping (f32 for checkpoints), f32 in
//! memory. The metadata carries the config and the frozen z prior, and the file's
//! hash is the model identity written into every frame.

use super::ModelConfig;
use crate::Error;
use crate::entropy::factorized::FactorizedPrior;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tch::{Kind, Tensor, nn::VarStore};

/// Everything a weights file holds.
pub struct WeightsFile {
    pub config: ModelConfig,
    pub prior: Option<FactorizedPrior>,
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: HashMap<String, String>,
    pub hash: [u8; 16],
}

/// Storage precision on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    F16,
    F32,
}

/// The identity of a serialised model: the first 16 bytes of SHA-256 over the
/// tensor data and the metadata in sorted order (the file's JSON header orders
/// metadata arbitrarily, so the raw file bytes are not canonical).
pub fn model_hash(bytes: &[u8]) -> Result<[u8; 16], Error> {
    let bad = |e: String| Error::Model(format!("invalid weights file: {e}"));
    let (start, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let mut h = Sha256::new();
    let sorted: BTreeMap<_, _> = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    for (k, v) in &sorted {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    let mut names: Vec<_> = meta.tensors().into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, info) in names {
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", info.dtype, info.shape).as_bytes());
        let (a, b) = info.data_offsets;
        h.update(
            bytes
                .get(8 + start + a..8 + start + b)
                .ok_or_else(|| bad("tensor data out of bounds".into()))?,
        );
    }
    Ok(h.finalize()[..16].try_into().expect("32-byte digest"))
}

/// Serialises the variables of `vs` (sorted by name) with the config, prior and extra metadata.
pub fn serialize(
    vs: &VarStore,
    config: &ModelConfig,
    prior: Option<&FactorizedPrior>,
    extra: &HashMap<String, String>,
    storage: Storage,
) -> Result<Vec<u8>, Error> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut meta = extra.clone();
    meta.insert(
        "config".into(),
        serde_json::to_string(config).map_err(|e| Error::Model(e.to_string()))?,
    );
    if let Some(p) = prior {
        meta.insert(
            "z_prior".into(),
            serde_json::to_string(p).map_err(|e| Error::Model(e.to_string()))?,
        );
    }
    serialize_tensors(&vars, meta, storage)
}

/// The shipped form of a network: its z prior frozen into integer tables, f16 weights.
pub fn serialize_shipped(
    vs: &VarStore,
    net: &super::Network,
    extra: &HashMap<String, String>,
) -> Result<Vec<u8>, Error> {
    let prior = net.z_density.freeze();
    serialize(vs, &net.config, Some(&prior), extra, Storage::F16)
}

/// Serialises named tensors with string metadata.
pub fn serialize_tensors(
    vars: &BTreeMap<String, Tensor>,
    meta: HashMap<String, String>,
    storage: Storage,
) -> Result<Vec<u8>, Error> {
    let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
    for (name, t) in vars {
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = Vec::try_from(
            t.detach()
                .to_device(tch::Device::Cpu)
                .to_kind(Kind::Float)
                .flatten(0, -1),
        )?;
        let bytes = match storage {
            Storage::F16 => data
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
            Storage::F32 => data.iter().flat_map(|&v| v.to_le_bytes()).collect(),
        };
        bufs.push((name.clone(), shape, bytes));
    }
    let dtype = match storage {
        Storage::F16 => Dtype::F16,
        Storage::F32 => Dtype::F32,
    };
    let views = bufs
        .iter()
        .map(|(n, s, b)| {
            Ok((
                n.as_str(),
                TensorView::new(dtype, s.clone(), b).map_err(|e| Error::Model(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    safetensors::serialize(views, &Some(meta)).map_err(|e| Error::Model(e.to_string()))
}

/// Named tensors and string metadata of a safetensors file.
pub type TensorsAndMetadata = (BTreeMap<String, Tensor>, HashMap<String, String>);

/// Reads named tensors (as f32) and metadata.
pub fn deserialize_tensors(bytes: &[u8]) -> Result<TensorsAndMetadata, Error> {
    let bad = |e: String| Error::Model(format!("invalid weights file: {e}"));
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let data = view.data();
        let vals: Vec<f32> = match view.dtype() {
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            d => return Err(bad(format!("tensor {name} has unsupported dtype {d:?}"))),
        };
        tensors.insert(name, Tensor::from_slice(&vals).view(shape.as_slice()));
    }
    Ok((tensors, metadata))
}

/// Parses a weights file from memory, validating the config and prior.
pub fn deserialize(bytes: &[u8]) -> Result<WeightsFile, Error> {
    let bad = |e: String| Error::Model(format!("invalid weights file: {e}"));
    let (tensors, metadata) = deserialize_tensors(bytes)?;
    let config: ModelConfig = serde_json::from_str(
        metadata
            .get("config")
            .ok_or_else(|| bad("no config".into()))?,
    )
    .map_err(|e| bad(e.to_string()))?;
    config.validate().map_err(bad)?;
    let prior = match metadata.get("z_prior") {
        Some(s) => {
            let p: FactorizedPrior = serde_json::from_str(s).map_err(|e| bad(e.to_string()))?;
            p.validate().map_err(|e| bad(e.to_string()))?;
            if p.channels.len() as i64 != config.nz {
                return Err(bad("z prior channel count".into()));
            }
            Some(p)
        }
        None => None,
    };
    Ok(WeightsFile {
        config,
        prior,
        tensors,
        metadata,
        hash: model_hash(bytes)?,
    })
}

/// Copies loaded tensors into the variables of `vs`; every variable must be present
/// with the right shape.
pub fn apply(vs: &VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<(), Error> {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, var) in &vars {
            let t = tensors
                .get(name)
                .ok_or_else(|| Error::Model(format!("weights file lacks tensor {name}")))?;
            if t.size() != var.size() {
                return Err(Error::Model(format!(
                    "tensor {name} has shape {:?}, the architecture needs {:?}",
                    t.size(),
                    var.size()
                )));
            }
            var.shallow_clone().copy_(&t.to_device(var.device()));
        }
        Ok(())
    })
}
