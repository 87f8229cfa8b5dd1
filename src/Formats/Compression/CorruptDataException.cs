using Occystrap.Abstractions;

namespace Occystrap.Formats.Compression;

/// <summary>Compressed bytes could not be decompressed (truncated or damaged gzip or zstd).</summary>
public sealed class CorruptDataException(string message, Exception inner) : OccystrapException(message, inner);
