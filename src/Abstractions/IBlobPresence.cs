namespace Occystrap.Abstractions;

/// <summary>A sink that stores content-addressed blobs and can say whether it has one already.</summary>
public interface IBlobPresence
{
    ValueTask<bool> HasBlobAsync(Digest blob, CancellationToken cancellationToken);
}
