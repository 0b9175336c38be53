use std::path::PathBuf;

/// Everything that can go wrong while generating the demo mesh.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("scale factor must be a positive finite number, got {0}")]
    InvalidScaleFactor(f64),

    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),

    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),

    #[error("background task ({what}) failed: {source}")]
    Task {
        what: String,
        #[source]
        source: tokio::task::JoinError,
    },

    /// The mesh copy and the baseline copy of a table must hold the same rows; anything else
    /// would make every baseline comparison meaningless.
    #[error("{table}: wrote {baseline} rows to the baseline but {mesh} rows to the mesh")]
    RowCountMismatch {
        table: &'static str,
        baseline: u64,
        mesh: u64,
    },

    #[error("path {} is not valid UTF-8, which the domain files and catalog URIs need", .0.display())]
    NonUtf8Path(PathBuf),
}

pub(crate) trait IoContext<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, DemoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, action: &'static str, path: impl Into<PathBuf>) -> Result<T, DemoError> {
        self.map_err(|source| DemoError::Io {
            action,
            path: path.into(),
            source,
        })
    }
}
