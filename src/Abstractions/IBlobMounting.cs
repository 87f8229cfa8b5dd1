namespace Occystrap.Abstractions;

/// <summary>A sink that can link a blob from another place it can reach (a registry's cross-repository mount) instead of copying it.</summary>
public interface IBlobMounting
{
    /// <summary>True when the blob is now at the destination; false when <paramref name="from"/> is out of reach or does not have it.</summary>
    ValueTask<bool> MountBlobAsync(Digest blob, BlobLocation from, CancellationToken cancellationToken);
}
