//! Loop guards for product kernels, so a shader that never ends still ends.
//!
//! A GPU cannot stop a dispatch that is running, and a compute GPU without a display has no
//! watchdog: a product's `loop {}` would hold the device for good. Before compiling a product's
//! kernel, the host rewrites its naga IR: every function gets an iteration counter, every loop
//! body starts by counting one iteration, and past the bound the loop breaks and sets a flag in
//! a buffer the host adds (`@group(1) @binding(0)`). The host reads the flag after the dispatch
//! and reports the kernel as stopped. The bound counts all loop iterations of one invocation of
//! one function, nested loops included.

use naga::{
    AddressSpace, BinaryOperator, Block, Expression, Function, GlobalVariable, Handle, Literal,
    LocalVariable, Module, ResourceBinding, Scalar, Span, Statement, StorageAccess, Type,
    TypeInner,
};

/// The group of the flag buffer the guard writes.
pub(crate) const GUARD_GROUP: u32 = 1;

/// Adds the flag buffer and a counted guard at the top of every loop body; returns the flag.
pub(crate) fn bound_loops(module: &mut Module, max_iterations: u32) -> Handle<GlobalVariable> {
    let u32_type = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Scalar(Scalar::U32),
        },
        Span::UNDEFINED,
    );
    let flag = module.global_variables.append(
        GlobalVariable {
            name: Some("tessera_loop_guard".into()),
            space: AddressSpace::Storage {
                access: StorageAccess::LOAD | StorageAccess::STORE,
            },
            binding: Some(ResourceBinding {
                group: GUARD_GROUP,
                binding: 0,
            }),
            ty: u32_type,
            init: None,
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        Span::UNDEFINED,
    );
    for (_, function) in module.functions.iter_mut() {
        guard_function(function, u32_type, flag, max_iterations);
    }
    for point in &mut module.entry_points {
        guard_function(&mut point.function, u32_type, flag, max_iterations);
    }
    flag
}

fn guard_function(
    function: &mut Function,
    u32_type: Handle<Type>,
    flag: Handle<GlobalVariable>,
    max_iterations: u32,
) {
    if !has_loop(&function.body) {
        return;
    }
    let zero = function
        .expressions
        .append(Expression::Literal(Literal::U32(0)), Span::UNDEFINED);
    let counter = function.local_variables.append(
        LocalVariable {
            name: Some("tessera_loop_count".into()),
            ty: u32_type,
            init: Some(zero),
        },
        Span::UNDEFINED,
    );
    let mut body = std::mem::take(&mut function.body);
    let guard = Guard {
        counter,
        flag,
        max_iterations,
    };
    guard.block(&mut body, function);
    function.body = body;
}

fn has_loop(block: &Block) -> bool {
    block.iter().any(|statement| match statement {
        Statement::Loop { .. } => true,
        Statement::Block(b) => has_loop(b),
        Statement::If { accept, reject, .. } => has_loop(accept) || has_loop(reject),
        Statement::Switch { cases, .. } => cases.iter().any(|c| has_loop(&c.body)),
        _ => false,
    })
}

struct Guard {
    counter: Handle<LocalVariable>,
    flag: Handle<GlobalVariable>,
    max_iterations: u32,
}

impl Guard {
    fn block(&self, block: &mut Block, function: &mut Function) {
        for (statement, _) in block.span_iter_mut() {
            match statement {
                Statement::Loop {
                    body, continuing, ..
                } => {
                    self.block(body, function);
                    self.block(continuing, function);
                    let mut guarded = self.statements(function);
                    guarded.append(body);
                    *body = guarded;
                }
                Statement::Block(b) => self.block(b, function),
                Statement::If { accept, reject, .. } => {
                    self.block(accept, function);
                    self.block(reject, function);
                }
                Statement::Switch { cases, .. } => {
                    for case in cases.iter_mut() {
                        self.block(&mut case.body, function);
                    }
                }
                _ => {}
            }
        }
    }

    /// `count = count + 1; if count > max { flag = 1; break; }`
    fn statements(&self, function: &mut Function) -> Block {
        let span = Span::UNDEFINED;
        let exprs = &mut function.expressions;
        let pointer = exprs.append(Expression::LocalVariable(self.counter), span);
        let one = exprs.append(Expression::Literal(Literal::U32(1)), span);
        let max = exprs.append(Expression::Literal(Literal::U32(self.max_iterations)), span);
        let flag = exprs.append(Expression::GlobalVariable(self.flag), span);
        let load = exprs.append(Expression::Load { pointer }, span);
        let next = exprs.append(
            Expression::Binary {
                op: BinaryOperator::Add,
                left: load,
                right: one,
            },
            span,
        );
        let over = exprs.append(
            Expression::Binary {
                op: BinaryOperator::Greater,
                left: next,
                right: max,
            },
            span,
        );
        let mut stop = Block::new();
        stop.push(
            Statement::Store {
                pointer: flag,
                value: one,
            },
            span,
        );
        stop.push(Statement::Break, span);
        let mut block = Block::new();
        block.push(
            Statement::Emit(naga::Range::new_from_bounds(load, over)),
            span,
        );
        block.push(
            Statement::Store {
                pointer,
                value: next,
            },
            span,
        );
        block.push(
            Statement::If {
                condition: over,
                accept: stop,
                reject: Block::new(),
            },
            span,
        );
        block
    }
}
