using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Occystrap.Abstractions;

namespace Occystrap.Host.Plugins;

internal enum PluginRole
{
    Input,
    Output,
    Filter,
}

/// <summary>A plugin as its assembly declares it: role, name and class, read without loading the assembly.</summary>
internal sealed record PluginDeclaration(PluginRole Role, string Name, string TypeName, string AssemblyPath);

/// <summary>
/// Reads the <see cref="InputPluginAttribute"/>, <see cref="OutputPluginAttribute"/> and
/// <see cref="FilterPluginAttribute"/> declarations of an assembly from its metadata alone: nothing is
/// loaded or run, so listing and choosing plugins costs a file read each.
/// </summary>
internal static class PluginDeclarations
{
    private const string ContractNamespace = "Occystrap.Abstractions";

    public static IReadOnlyList<PluginDeclaration> Read(string dll)
    {
        using var stream = File.OpenRead(dll);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata) throw new BadImageFormatException($"{dll} is not a .NET assembly");
        var md = pe.GetMetadataReader();
        var found = new List<PluginDeclaration>();
        foreach (var handle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(handle);
            foreach (var attributeHandle in type.GetCustomAttributes())
            {
                var attribute = md.GetCustomAttribute(attributeHandle);
                PluginRole? role = AttributeName(md, attribute) switch
                {
                    nameof(InputPluginAttribute) => PluginRole.Input,
                    nameof(OutputPluginAttribute) => PluginRole.Output,
                    nameof(FilterPluginAttribute) => PluginRole.Filter,
                    _ => null,
                };
                if (role is null) continue;
                // The blob is the prolog 0x0001 followed by the one string argument.
                var blob = md.GetBlobReader(attribute.Value);
                if (blob.ReadUInt16() != 1) throw new BadImageFormatException($"{dll}: a plugin attribute is malformed");
                string name = blob.ReadSerializedString() ?? throw new BadImageFormatException($"{dll}: a plugin attribute has no name");
                found.Add(new PluginDeclaration(role.Value, name, FullName(md, type), dll));
            }
        }
        return found;
    }

    /// <summary>The attribute's type name when it is one of the contract's, else null.</summary>
    private static string? AttributeName(MetadataReader md, CustomAttribute attribute)
    {
        if (attribute.Constructor.Kind != HandleKind.MemberReference) return null;
        var ctor = md.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
        if (ctor.Parent.Kind != HandleKind.TypeReference) return null;
        var type = md.GetTypeReference((TypeReferenceHandle)ctor.Parent);
        return md.GetString(type.Namespace) == ContractNamespace ? md.GetString(type.Name) : null;
    }

    /// <summary>The name reflection knows the type by (<c>Namespace.Outer+Inner</c>).</summary>
    private static string FullName(MetadataReader md, TypeDefinition type)
    {
        string name = md.GetString(type.Name);
        var declaring = type.GetDeclaringType();
        if (!declaring.IsNil) return FullName(md, md.GetTypeDefinition(declaring)) + "+" + name;
        string ns = md.GetString(type.Namespace);
        return ns.Length == 0 ? name : $"{ns}.{name}";
    }
}
