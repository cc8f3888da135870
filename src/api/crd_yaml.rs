//! The CRDs as YAML files, for `snowflake-token-operator crd` and the `crds/` folder.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Why the CRDs could not be serialized or written.
#[derive(Debug, thiserror::Error)]
pub enum CrdYamlError {
    /// A CRD did not serialize to YAML.
    #[error("cannot serialize CRD {name} to YAML: {source}")]
    Serialize {
        /// The CRD's name.
        name: String,
        /// The serializer's error.
        source: serde_saphyr::SerializeError,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The file name of a CRD in `crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as a YAML document (without a `---` separator).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdYamlError> {
    serde_saphyr::to_string(crd).map_err(|source| CrdYamlError::Serialize {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })
}

/// All CRDs as one multi-document YAML stream.
pub fn all_to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, CrdYamlError> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&to_yaml(crd)?);
    }
    Ok(out)
}

/// Writes each CRD to `dir/<plural>.<group>.yaml` (creating `dir`), returning the paths.
pub fn write_dir(
    crds: &[CustomResourceDefinition],
    dir: &Path,
) -> Result<Vec<PathBuf>, CrdYamlError> {
    std::fs::create_dir_all(dir).map_err(|source| CrdYamlError::Write {
        path: dir.to_owned(),
        source,
    })?;
    crds.iter()
        .map(|crd| {
            let path = dir.join(file_name(crd));
            std::fs::write(&path, to_yaml(crd)?).map_err(|source| CrdYamlError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_holds_every_crd_and_parses_back() {
        let crds = crate::api::crds();
        let yaml = all_to_yaml(&crds).expect("serializes");
        let parsed: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&yaml).expect("every document is a CRD");
        assert_eq!(parsed, crds);
    }

    #[test]
    fn files_are_named_after_the_crd() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = write_dir(&crate::api::crds(), dir.path()).expect("writes");
        let names: Vec<_> = paths
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(
            names,
            [
                "snowflakeconnections.snowflake-token-operator.io.yaml",
                "snowflakeserviceusers.snowflake-token-operator.io.yaml",
                "snowflaketokens.snowflake-token-operator.io.yaml",
            ]
        );
    }
}
