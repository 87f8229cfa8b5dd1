namespace Occystrap.Abstractions;

/// <summary>A manifest or index exactly as the source stored it, with the descriptor that names it.</summary>
/// <param name="Bytes">The stored bytes; they hash to <c>Descriptor.Digest</c>.</param>
public sealed record ImageDocument(Descriptor Descriptor, ReadOnlyMemory<byte> Bytes);
