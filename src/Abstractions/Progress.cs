namespace Occystrap.Abstractions;

/// <summary>Where plugins report long work. The host draws bars on a terminal and periodic lines otherwise.</summary>
public interface IProgressReporter
{
    /// <param name="description">What is being done, e.g. "layer 3/8 1a2b3c4d5e6f".</param>
    /// <param name="totalBytes">The expected size, when known.</param>
    IProgressTask Start(string description, long? totalBytes);
}

/// <summary>
/// One piece of long work. Disposing it says the work finished; call <see cref="Fail"/> first when it did
/// not, so that the display shows the failure instead of a finished task.
/// </summary>
public interface IProgressTask : IDisposable
{
    void Advance(long bytes);

    /// <summary>The work stopped before its end: failed, or was interrupted. Disposing afterwards changes nothing.</summary>
    /// <param name="reason">A few words: "interrupted", "failed".</param>
    void Fail(string reason) { }
}

/// <summary>A reporter that shows nothing, for tests and quiet use.</summary>
public sealed class NullProgressReporter : IProgressReporter
{
    public static NullProgressReporter Instance { get; } = new();

    public IProgressTask Start(string description, long? totalBytes) => NullTask.Instance;

    private sealed class NullTask : IProgressTask
    {
        public static NullTask Instance { get; } = new();
        public void Advance(long bytes) { }
        public void Dispose() { }
    }
}
